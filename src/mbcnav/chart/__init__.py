"""The chart as other clinicians see it: problem-list integrity and the content of CDS Hooks cards (pure functions,
no HTTP). The service (mbcnav.service.cds_hooks) and `mbcnav chart` call these."""
