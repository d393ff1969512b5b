"""The push: plan a run in the ledger, then claim, render and send it with bounded memory.

One module per part, imported from where it lives (this package re-exports nothing, so the
ledger may import the planner without pulling the engine in):

- `planner`: Planner, who is due and which ledger rows a run adds
- `options`: PushOptions, the worker id, the run's key, scheduling defaults from settings
- `sender`: the Sender contract (OutgoingMessage, a whole digest, in; SendResult out)
- `renders`: DigestRenders, each (article, language) rendered once a run
- `outcomes`: OutcomeWriter, outcomes back to the ledger in batches, and the crash bound
- `engine`: Push, the producer, worker pool and heartbeat of one process
- `reports`: PushProgress and PushReport
- `run`: run_push, which wires them and reports
- `preview`: what a chat's next push would carry (/preview)
"""
