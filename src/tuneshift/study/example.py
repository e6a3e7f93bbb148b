"""A commented study file: shown by `tuneshift study run --help` and explained field by field in docs/study.md."""

EXAMPLE = """\
# study.yaml: run with `tuneshift study run study.yaml --out DIR`
models:
  - flan-t5-small          # a zoo name (`tuneshift zoo list`)
  - t5-small
  - name: my-tuned         # your own model: a name and its weights
    spec: /shared/models/my-tuned   # hub id, folder, .gguf, catalog name
    base_model: t5-small   # its base, for `study analyze` pairs
    instruction_tuned: true
    params_b: 0.06         # optional: billions, for memory estimates
# benchmark ids from `tuneshift score --list`
benchmarks: [Tuckute2024-ridge, Futrell2018-pearsonr]
controls: true             # also score random-init controls
seed: 0                    # the controls' seed
# how models load: dtype, device, device_map, cache, num_cpus, num_gpus
options: {dtype: float32, device: cpu}
benchmark_options:         # checked when the study loads
  Futrell2018-pearsonr: {sentences: brainscore}
zoo: []                    # more zoo files, relative to this file
"""
