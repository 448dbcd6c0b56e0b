"""The app of openai_chat.py with no set-up at all: `opentelemetry-instrument` adds the tracing.

Run it through zero_code.py, or yourself with the environment of the README's "Zero-code" section:
`opentelemetry-instrument python examples/zero_code_app.py`. It calls the model at OPENAI_BASE_URL.
"""

import openai

import trubrics_otel

CHATS = [
    ("ada", "thread-ada-1", "What is OpenTelemetry?"),
    ("ada", "thread-ada-1", "How does Trubrics use it?"),
    ("grace", "thread-grace-1", "Which sign-up step loses most users?"),
]

client = openai.OpenAI()  # OPENAI_API_KEY and OPENAI_BASE_URL from the environment
for user, thread, question in CHATS:
    with trubrics_otel.context(user_id=user, thread_id=thread):  # every span inside names them
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
    print(f"{user}: {question}\n  -> {reply.choices[0].message.content}")
