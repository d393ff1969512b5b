"""The database: the engine, the tables, and one module of Core queries per table.

`engine` opens and migrates the database, `tables` describes the schema, and `articles`,
`subscribers`, `deliveries` and `push_runs` hold every query, each the only writer of its
table. Query functions take an open `Connection` (the caller owns the transaction) and return
`bot.model` values.
"""
