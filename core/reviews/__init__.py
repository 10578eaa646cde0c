"""Reviews: ratings and texts on completed orders, replies, and the aggregates that feed ranking."""
