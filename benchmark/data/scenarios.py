"""The hazard scenarios of the synthetic cohort, by name (benchmark.data.synthetic draws them).

Each adds an image term to the recurrence and post-recurrence hazards:
  clinical      none: the calibrated clinical hazard alone;
  burden        the largest lesion's diameter and the lesion count (1, 2-4, 5 or more), weighed as the published
                hazard ratios weigh them;
  spatial       per-lesion relations: each tumour's proximity to the portal and hepatic veins (summed
                over lesions), lesions spread over both lobes, a small future liver remnant;
  texture       the heterogeneity of the enhancement inside the tumours and in the liver parenchyma, rendered
                into the CT: invisible to volumes and distances;
  distribution  the lesions one by one and among themselves: the worst lesion's size times its closeness
                to a vessel, and how far apart the lesions lie (no per-patient sum or mean is either);
  mixed         all of the above together (the default), burden and texture at their published log hazard
                ratios, each draw's coefficients drawn from the published intervals;
  mixed-half, mixed-double   the default's image term at half and twice its strength: the sensitivity of
                every comparison to the one number the literature cannot pin down;
  null          no term at all, and no clinical one either: outcomes independent of every input.
Kept apart from the generator, which needs pandas and scipy, so the command line can name them at once.
"""
SCENARIOS = ("mixed", "clinical", "burden", "spatial", "texture", "distribution", "mixed-half", "mixed-double", "null")
DEFAULT_SCENARIO = "mixed"
#: The scenarios whose hazard has an image term (the others have none to find in the images).
WITH_IMAGE_TERM = ("mixed", "burden", "spatial", "texture", "distribution", "mixed-half", "mixed-double")
#: The scenarios that rescale another's image term: name -> (scenario, factor on its image term).
RESCALED = {"mixed-half": ("mixed", 0.5), "mixed-double": ("mixed", 2.0)}
#: The scenarios with a hazard of their own (a rescaled one repeats its base scenario's at another strength).
DISTINCT = tuple(s for s in SCENARIOS if s not in RESCALED)
#: The image mechanisms themselves.
IMAGE_MECHANISMS = tuple(s for s in DISTINCT if s in WITH_IMAGE_TERM)
