"""What methods read besides the clinical table, built once per cohort and cached: per-node radiomics
and CT-encoder features, feature selection and tabular preprocessing fitted inside a training fold."""
