"""What featurepulse costs per month on AWS: one dated price table, a pure model, the `featurepulse cost` command.

docs/cost.md explains the model and sets the bill beside the Game Analytics Pipeline's published table.
"""
