"""Analyses of KTR runs (`video-ktr analyze …`): what KTR selects and why it helps.

`rundir` reads run directories · `words`/`tokens` kept vs masked tokens, POS, word clouds · `losscurves` loss
variance and curves · `compare` eval tables · `viewer` the HTML key-token viewer · `gradients` the kept/masked
gradient decomposition (pure maths) and `gradient_run` its driver on a model.
"""
