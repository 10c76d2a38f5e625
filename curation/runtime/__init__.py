"""Ray, and only Ray: starting or joining a cluster, sizing worker pools, and running a list of stages as one
streaming Ray Data graph. No concrete stage is known here."""
