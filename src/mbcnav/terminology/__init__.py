"""Code systems and the mapping of record codes (SNOMED CT, ICD-10-CM, LOINC) onto mbcnav's vocabularies."""
