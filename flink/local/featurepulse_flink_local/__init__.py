"""The real-time job on this machine (PyFlink mini-cluster, boto3 sink). Never shipped to Managed Flink: it
imports boto3, which the Managed Flink runtime does not have (flink/app/ is what ships)."""
