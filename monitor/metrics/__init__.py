"""Numbers from bucket sums: the formulas of docs/metrics.md, whole-frame columns, and spike detection."""
