"""``waapp campaign send|list|show|pause|resume|cancel|retry-failed``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from waapp.cli.common import CommandError, account_named, fail, run_services
from waapp.paths import DataPaths


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    campaign = commands.add_parser(
        "campaign", help="send a campaign to a group, follow it, pause, resume or cancel it"
    )
    actions = campaign.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)

    sending = actions.add_parser(
        "send",
        help="create a campaign for a group and start it",
        description="Create a campaign to everyone in a group (opted-out contacts, invalid and "
        "repeated numbers are skipped with the reason) and start it. Without --wait it is left "
        "sending: the window or `waapp run` sends it (a `waapp run` already running picks it "
        "up within seconds), or `waapp campaign resume ID --wait`. With --wait it "
        "is sent by this process; the exit code is then 0 when it completed, 1 when it paused "
        "or failed (the reason on stderr). Exits 1 with a plain message when the account, "
        "group, template or a variable cannot be used.",
        epilog="Example: waapp campaign send --account Shop --group Customers "
        "--template order_update --var 1=first_name --var 2=order --wait",
    )
    sending.add_argument("--account", metavar="NAME", required=True, help="the account's name")
    sending.add_argument("--group", metavar="NAME", required=True, help="the group to send to")
    message = sending.add_mutually_exclusive_group(required=True)
    message.add_argument("--template", metavar="NAME", help="an approved template of the account")
    message.add_argument(
        "--text",
        metavar="TEXT",
        help="a free-form message (saved as a local message); only recipients inside the "
        "24 h window can get it, the others are skipped with the reason",
    )
    sending.add_argument(
        "--var",
        metavar="N=FIELD",
        action="append",
        default=[],
        help="fill placeholder N (or a named one) with a contact field (name, first_name, "
        "phone or a custom field), or with fixed text as N=text:Words. Repeatable.",
    )
    sending.add_argument("--name", metavar="NAME", help="the campaign's name")
    sending.add_argument(
        "--rate", metavar="MPS", type=float, help="messages per second (default: the provider's)"
    )
    sending.add_argument("--wait", action="store_true", help="send it now and wait until done")
    sending.add_argument("--json", action="store_true", help="print the campaign as JSON")
    sending.set_defaults(handler=cmd_campaign_send)

    listing = actions.add_parser(
        "list",
        help="list the campaigns, newest first",
        description="List the campaigns. With --json: a list of objects with id, name, status, "
        "account_id, counts (message state → count), created_at, started_at, finished_at.",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=cmd_campaign_list)

    showing = actions.add_parser(
        "show",
        help="a campaign's status, counts per message state and timeline",
        description="Show a campaign. With --json: id, name, status, counts (message state → "
        "count, counted from the recipients) and the timeline (at, from, to, cause, detail).",
    )
    showing.add_argument("id", type=int, metavar="ID")
    showing.add_argument("--json", action="store_true", help="print it as JSON")
    showing.set_defaults(handler=cmd_campaign_show)

    helps = {
        "pause": "stop sending a campaign (nothing more is claimed from then on)",
        "resume": "send a paused campaign again (with --wait: in this process, until done)",
        "cancel": "cancel a campaign: the recipients not sent yet are cancelled",
        "retry-failed": "queue the failed recipients of a campaign again",
    }
    for action, text in helps.items():
        sub = actions.add_parser(
            action,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. Acts on the campaign as stored; exits 1 "
            "with the reason when its status does not allow it.",
        )
        sub.add_argument("id", type=int, metavar="ID")
        if action in ("resume", "retry-failed"):
            sub.add_argument(
                "--wait", action="store_true", help="send it in this process until done"
            )
            sub.add_argument("--json", action="store_true", help="with --wait: print it as JSON")
        sub.set_defaults(handler=cmd_campaign_action, action=action)


def _mapping(specs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--var N=FIELD`` / ``N=text:Fixed`` items as ``Campaign.variable_mapping``."""
    mapping: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, sep, source = spec.partition("=")
        name = name.strip().strip("{}").strip()
        if not sep or not name or not source.strip():
            raise CommandError(
                f"--var needs N=FIELD or N=text:Fixed words, for example 1=first_name; got “{spec}”"
            )
        if name in mapping:
            raise CommandError(f"--var {name} is given twice")
        if source.startswith("text:"):
            if not source[5:].strip():
                raise CommandError(f"--var {name}=text: needs the fixed text after “text:”")
            mapping[name] = {"text": source[5:]}
        else:
            mapping[name] = {"field": source.strip()}
    return mapping


def _campaign_line(report: Any) -> str:
    data = report.to_json()
    counts = ", ".join(f"{state} {count}" for state, count in sorted(data["counts"].items()))
    return f"Campaign {data['id']} “{data['name']}”: {data['status']} ({counts or 'no recipients'})"


async def _print_campaign(services: Any, campaign_id: int, *, as_json: bool) -> Any:
    report = await services.campaigns.show(campaign_id)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(_campaign_line(report))
    return report


def _waited_exit(report: Any) -> int:
    """After --wait: 0 when completed, else 1 with the last reason on stderr."""
    from waapp.core.states import CampaignStatus

    campaign = report.campaign
    if campaign.status is CampaignStatus.COMPLETED:
        return 0
    reason = report.timeline[-1].detail if report.timeline else ""
    print(
        f"waapp: campaign {campaign.id} is {campaign.status.value}: {reason}".rstrip(": "),
        file=sys.stderr,
    )
    return 1


async def _group_named(services: Any, name: str) -> Any:
    groups = await services.contacts.groups()
    wanted = " ".join(name.split()).casefold()
    found = [g for g in groups if g.name.casefold() == wanted]
    if not found:
        names = ", ".join(f"“{g.name}”" for g in groups) or "none yet"
        raise CommandError(f"there is no group called “{name}” (groups: {names})")
    return found[0]


async def _local_message(services: Any, base: str, body: str) -> Any:
    """Save ``--text`` as a local free-form message under a name not used yet."""
    from waapp.core.errors import DuplicateName

    for n in range(1, 1000):
        name = base if n == 1 else f"{base} ({n})"
        try:
            return await services.templates.save_freeform(template_id=None, name=name, body=body)
        except DuplicateName:
            continue
    raise CommandError(f"cannot find a free name for the message “{base}”")


def cmd_campaign_send(args: argparse.Namespace, paths: DataPaths) -> int:
    from datetime import datetime

    from waapp.core.entities import TemplateKind

    try:
        mapping = _mapping(args.var)
    except CommandError as error:
        return fail(error)
    if args.rate is not None and not args.rate > 0:
        return fail(CommandError("--rate must be a number of messages per second above 0"))

    async def work(services: Any) -> int:
        if args.wait:
            await services.start_network(owner="waapp campaign send --wait")
        account = await account_named(services, args.account, start_network=False)
        group = await _group_named(services, args.group)
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
        template_id = freeform_id = None
        if args.template is not None:
            templates = await services.templates.list(account.id)
            wanted = args.template.strip().casefold()
            found = [
                t
                for t in templates
                if t.kind is TemplateKind.APPROVED
                and t.account_id == account.id
                and t.name.casefold() == wanted
            ]
            if not found:
                names = ", ".join(
                    f"“{t.name}”"
                    for t in templates
                    if t.kind is TemplateKind.APPROVED and t.account_id == account.id
                )
                raise CommandError(
                    f"the account “{account.name}” has no template called “{args.template}” "
                    f"(templates: {names or f'none yet — run waapp templates sync --account {account.name!r}'})"
                )
            template_id = found[0].id
            what = found[0].name
        else:
            what = "Message"
        name = (args.name or f"{what} to {group.name} {stamp}").strip()
        if args.text is not None:
            freeform_id = (await _local_message(services, f"{name} — text", args.text)).id
        campaign = await services.campaigns.create(
            name=name,
            account_id=account.id,
            group_ids=[group.id],
            template_id=template_id,
            freeform_template_id=freeform_id,
            variable_mapping=mapping,
            pacing={"rate": args.rate} if args.rate is not None else None,
        )
        await services.campaigns.start(campaign.id, run=args.wait)
        if args.wait:
            await services.campaigns.wait(campaign.id)
        report = await _print_campaign(services, campaign.id, as_json=args.json)
        if not args.wait:
            if not args.json:
                print(
                    "It is sent while waapp runs: the window, or `waapp run` on a computer "
                    "that stays on (one already running picks it up within seconds); or "
                    f"send it from here now with: waapp campaign resume {campaign.id} --wait"
                )
            return 0
        return _waited_exit(report)

    return run_services(paths, work)


def cmd_campaign_list(args: argparse.Namespace, paths: DataPaths) -> int:
    async def work(services: Any) -> int:
        rows = []
        for campaign in await services.campaigns.list():
            data = (await services.campaigns.show(campaign.id)).to_json()
            del data["timeline"]
            rows.append(data)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("No campaigns yet: send one with `waapp campaign send`.")
        else:
            for row in rows:
                counts = ", ".join(f"{s} {n}" for s, n in sorted(row["counts"].items()))
                print(f"{row['id']:>4}  {row['name']}  [{row['status']}]  {counts}")
        return 0

    return run_services(paths, work)


def cmd_campaign_show(args: argparse.Namespace, paths: DataPaths) -> int:
    async def work(services: Any) -> int:
        report = await _print_campaign(services, args.id, as_json=args.json)
        if not args.json:
            for event in report.timeline:
                came = f"{event.from_status.value} → " if event.from_status else ""
                detail = f": {event.detail}" if event.detail else ""
                print(
                    f"  {event.at:%Y-%m-%d %H:%M:%S}  {came}{event.to_status.value}"
                    f" ({event.cause}){detail}"
                )
        return 0

    return run_services(paths, work)


def cmd_campaign_action(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.core.states import CampaignStatus

    async def work(services: Any) -> int:
        campaigns = services.campaigns
        wait = getattr(args, "wait", False)
        campaign = await services.worker.run(campaigns.repo.get, args.id)
        if args.action == "pause":
            await campaigns.pause(args.id)
            print(f"Campaign {args.id} “{campaign.name}” is paused.")
            return 0
        if args.action == "cancel":
            count = await campaigns.cancel(args.id)
            print(f"Campaign {args.id} “{campaign.name}” is cancelled ({count} not sent).")
            return 0
        if args.action == "resume":
            if campaign.status not in (CampaignStatus.PAUSED, CampaignStatus.FAILED) and not (
                wait and campaign.status is CampaignStatus.SENDING  # left by a stopped process
            ):
                raise CommandError(
                    f"a campaign that is {campaign.status.value} cannot be resumed; only a "
                    "paused or failed campaign can"
                    + (" (use retry-failed, or duplicate it)" if campaign.status.is_final else "")
                )
            if campaign.status is not CampaignStatus.SENDING:
                await campaigns.resume(args.id, run=False)
        else:
            count = await campaigns.retry_failed(args.id, run=False)
            if not count:
                raise CommandError(f"campaign {args.id} has no failed recipients to retry")
            if not wait:
                print(f"Campaign {args.id}: {count} failed recipient(s) queued again.")
        if not wait:
            if args.action == "resume":
                print(
                    f"Campaign {args.id} “{campaign.name}” is sending again: the window or "
                    "`waapp run` sends it (one already running picks it up within seconds)."
                )
            return 0
        await services.start_network(owner=f"waapp campaign {args.action} --wait")
        await campaigns.wait(args.id)
        return _waited_exit(await _print_campaign(services, args.id, as_json=args.json))

    return run_services(paths, work)


#: How often ``waapp run`` looks for campaigns another command put in ``sending``.
