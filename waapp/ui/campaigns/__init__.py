"""The Campaigns and Dashboard screens: the list of campaigns and the campaign view."""
