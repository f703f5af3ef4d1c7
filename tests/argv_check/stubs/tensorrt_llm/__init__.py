"""Stand-in for TensorRT-LLM, used only by ``tests/argv_check/validate.py``.

TensorRT-LLM cannot be installed on these machines (PyPI carries only a placeholder that
points to NVIDIA's own index, which is unreachable), yet ``dynamo.trtllm.backend_args`` imports
one of its classes at module level. Dynamo reads nothing from it but four default values
(see ``llmapi/llm_args.py``), so this tiny package supplies exactly those and nothing else: it
lets Dynamo's real ``dynamo.trtllm.args.parse_args`` run, it is NOT a usable TensorRT-LLM.

It is put on ``sys.path`` only inside the validator's subprocess, never in the pytest process.
"""
