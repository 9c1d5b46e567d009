// Gradio's JavaScript client (@gradio/client) against the demo's /reason, as a script would use it.
// usage: node reason.mjs URL MODE IMAGE QUESTION [SETTINGS_JSON]
//   IMAGE: a local file (uploaded), a URL (handle_file(url)), or a JSON object sent as it is
//   SETTINGS_JSON: values that replace the defaults below, e.g. '{"temperature": 5}'
//   stream: print each streamed /reason dict as one JSON line
//   cancel: call job.cancel() once thinking has started, then print the events that still arrive
//   error:  print {"error": message} when the call is refused (e.g. IMAGE is not an image)
//   positional: like stream, but the call gives only [images, question] in order (the client pads the rest with null)
// Every line printed is JSON; the last is {"end": "<how the job ended>"}.
import { Client, handle_file } from "@gradio/client";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [url, mode, image, question, settings = "{}"] = process.argv.slice(2);
const print = (value) => console.log(JSON.stringify(value));
const client = await Client.connect(url, { events: ["data", "status"] });
const item = image.startsWith("{") ? JSON.parse(image)
  : /^(https?|data):/.test(image) ? handle_file(image)
  : handle_file(new File([await readFile(image)], basename(image)));
const job = mode === "positional" ? client.submit("/reason", [[item], question]) : client.submit("/reason", {
  images: [item], question, thinking_budget: mode === "cancel" ? -1 : 8, max_new_tokens: 16,
  temperature: 0, seed: 1, ...JSON.parse(settings),
});
let cancelled = false;
for await (const message of job) {
  if (process.env.DEBUG_EVENTS) console.error(JSON.stringify(message));
  if (message.type === "data") {
    print({ data: message.data[0] });
    if (mode === "cancel" && !cancelled && message.data[0]?.reasoning) {
      cancelled = true;
      await job.cancel();
      print({ cancelled: true });
      setTimeout(() => { print({ end: "quiet after cancel" }); process.exit(0); }, 3000);
    }
  } else if (message.type === "status" && (message.stage === "error" || message.stage === "complete")) {
    print(message.stage === "error" ? { error: message.message } : { complete: true });
    if (!cancelled) break;
  }
}
print({ end: cancelled ? "iterator closed after cancel" : "finished" });
process.exit(0);
