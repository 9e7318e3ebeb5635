"""The bank's services over the custody layer: users and auth, accounts, payments, operations, events."""
