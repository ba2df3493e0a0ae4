"""Campaigns: the ledger planning, the sending engine and the service the UI and CLI use."""

from __future__ import annotations

from waapp.services.campaigns.engine import CampaignEngine, RunnerSettings
from waapp.services.campaigns.service import CampaignReport, CampaignService

__all__ = ["CampaignEngine", "CampaignReport", "CampaignService", "RunnerSettings"]
