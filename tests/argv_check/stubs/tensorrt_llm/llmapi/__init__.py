"""Stand-in for ``tensorrt_llm.llmapi`` (see the package docstring).

Deliberately has no ``BuildConfig``: TensorRT-LLM 1.3.0rc21 removed it and moved its fields to
``llm_args.BaseLlmArgs``, and ``ai-dynamo[trtllm]`` 1.6.1 pins 1.3.0rc29. So
``dynamo.trtllm.backend_args`` takes the same fallback import here as with the real package.
"""
