"""The conductor: drives a run through the ports and decides promote / hold / rollback."""
