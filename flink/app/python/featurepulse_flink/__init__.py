"""The featurepulse real-time job on PyFlink 1.20: one aggregation, AWS and local connectors around it."""
