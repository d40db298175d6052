"""The real atmosphere for SGP4's drag: space weather, NRLMSIS 2.1 density tables, and the
coupling that scales each object's B* by the ratio of the real orbit-averaged drag to SGP4's own
(docs/atmosphere.md)."""
