"""The OpenAI-compatible surface of the gateway (/v1): OpenAI's wire shapes on top of
llm.gateway — chat completions, the Responses API, embeddings and OpenAI-shaped errors."""
