"""Cohorts and where they come from: the Cohort, the TCIA clinical reader, outer splits, the synthetic
generator, the DICOM imaging pipeline and the real data shipped with the suite."""
