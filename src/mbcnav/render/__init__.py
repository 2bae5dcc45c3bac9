"""Every readable view, one module per view: assessment, options, knowledge (the knowledge base in Markdown),
response, trials — `render_assessment`, `render_options`, `render_response`, `render_trials` (and `render_search`).

A renderer takes the domain objects or the JSON contract documents (what `mbcnav.pathway.Evaluation` returns) and a
rich Console, and prints; it never reads a file or the store. The command line and the service both use them, so a
patient reads the same wherever she is seen. (Import the module you need: this package imports none of them, so a
command loads only its own view.)"""
