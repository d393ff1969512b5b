"""The daily push: plan who gets which articles, then send them through the ledger."""
