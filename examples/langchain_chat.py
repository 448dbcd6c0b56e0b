"""A LangChain chain over `ChatOpenAI`, traced by OpenInference's LangChain instrumentation.

Only the model call becomes an LLM event; the prompt template, the parser and the chain around it do not.
Run it with `python examples/langchain_chat.py` (no OPENAI_API_KEY: a fake model, see _local.py). Needs
langchain-openai and openinference-instrumentation-langchain (in the dev extra).
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry import trace

import trubrics_otel

import _local

with _local.trubrics() as server, _local.fake_openai():
    trubrics_otel.configure(service_name="langchain-chat")
    LangChainInstrumentor().instrument()  # records prompts and answers unless OPENINFERENCE_HIDE_* say not

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one sentence."), ("user", "Explain {topic} to a new colleague.")]
    )
    chain = prompt | ChatOpenAI(model="gpt-4o-mini") | StrOutputParser()

    with trubrics_otel.context(user_id="grace", thread_id="thread-grace-2"):
        for topic in ("OpenTelemetry baggage", "a span processor"):
            print(f"grace: {topic}\n  -> {chain.invoke({'topic': topic})}")

    trace.get_tracer_provider().force_flush()  # send what is queued before reading the server
    _local.show(server)
