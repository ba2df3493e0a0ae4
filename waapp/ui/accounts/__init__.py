"""The Accounts screen: provider accounts, their tokens, webhook addresses and health."""
