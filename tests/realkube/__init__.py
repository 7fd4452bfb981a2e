"""The real Kubernetes control plane as a test service (see ``cluster.py``)."""
