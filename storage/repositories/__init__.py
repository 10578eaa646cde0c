"""SQL repositories, one module per area, all working on the unit of work's connection."""
