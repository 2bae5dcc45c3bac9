"""Clinical trials and expanded-access programmes: ClinicalTrials.gov records, the trial store, load and sync."""
