"""What leaves the store for people and programs: alerts, status, exports, the analysis API, digests, delivery."""
