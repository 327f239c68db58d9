"""From a source's items to stored rows: vet, match topics, score, and write one poll in one transaction (poll)."""
