// The npm `ollama` client, unchanged, against `ladle serve`: node ollama_client.mjs URL
// [TOOL_MODEL] prints one JSON object of what each call answered, for
// tests/clients/test_ollama_js.py to check. Without TOOL_MODEL, structured output and the
// tool round trip are left out.
import { Ollama } from "ollama";

const [host, toolModel] = process.argv.slice(2);
const client = new Ollama({ host });
const hello = [{ role: "user", content: "hello" }];
const out = {};

out.chat = (await client.chat({ model: "tiny", messages: hello })).message;
const pieces = [];
for await (const part of await client.chat({ model: "tiny", messages: hello, stream: true })) {
  pieces.push(part);
}
out.stream = { text: pieces.map((p) => p.message.content).join(""), last: pieces.at(-1) };
out.generate = await client.generate({ model: "tiny", prompt: "hello" });
out.embed = await client.embed({ model: "tiny", input: ["hello", "world"] });
try {
  await client.chat({ model: "nope", messages: hello });
} catch (error) {
  out.error = { name: error.name, status: error.status_code, message: error.message };
}

if (toolModel) {
  const schema = {
    type: "object",
    properties: { city: { type: "string", enum: ["Paris", "Oslo"] }, warm: { type: "boolean" } },
    required: ["city", "warm"],
  };
  const question = "Is Paris warm in summer? Answer in JSON with the city and warm.";
  const structured = await client.chat({
    model: toolModel, messages: [{ role: "user", content: question }], format: schema,
  });
  out.structured = structured.message.content;

  const tools = [{
    type: "function",
    function: {
      name: "get_weather",
      description: "The weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", description: "The city" } },
        required: ["city"],
      },
    },
  }];
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  const first = await client.chat({ model: toolModel, messages, tools });
  out.tool_call = first.message;
  messages.push(first.message);
  for (const call of first.message.tool_calls ?? []) {
    const result = JSON.stringify({ city: call.function.arguments.city, temperature: 21 });
    messages.push({ role: "tool", content: result, tool_name: call.function.name });
  }
  out.tool_answer = (await client.chat({ model: toolModel, messages, tools })).message;
}
console.log(JSON.stringify(out));
