/** MODELMORA_JOB_* settings: the result store and the callback backoff cap, as read from the environment. */
import { expect, test } from "bun:test";
import { ConfigError } from "../../src/config.ts";
import { JOB_DEFAULTS, jobSettingsFromEnvironment } from "../../src/inference/jobs/job-settings.ts";

test("MODELMORA_JOB_RESULT_STORE is database or files; unset leaves the choice to the database kind; anything else is refused", () => {
  expect(jobSettingsFromEnvironment({}).resultStore).toBeUndefined();
  expect(jobSettingsFromEnvironment({ MODELMORA_JOB_RESULT_STORE: "" }).resultStore).toBeUndefined();
  expect(jobSettingsFromEnvironment({ MODELMORA_JOB_RESULT_STORE: "database" }).resultStore).toBe("database");
  expect(jobSettingsFromEnvironment({ MODELMORA_JOB_RESULT_STORE: "files" }).resultStore).toBe("files");
  expect(() => jobSettingsFromEnvironment({ MODELMORA_JOB_RESULT_STORE: "s3" })).toThrow(ConfigError);
});

test("MODELMORA_JOB_CALLBACK_MAX_DELAY_SECONDS caps the callback backoff, in milliseconds", () => {
  expect(jobSettingsFromEnvironment({}).callbackMaxDelayMilliseconds).toBe(JOB_DEFAULTS.callbackMaxDelayMilliseconds);
  expect(jobSettingsFromEnvironment({ MODELMORA_JOB_CALLBACK_MAX_DELAY_SECONDS: "2.5" }).callbackMaxDelayMilliseconds).toBe(2500);
  expect(() => jobSettingsFromEnvironment({ MODELMORA_JOB_CALLBACK_MAX_DELAY_SECONDS: "-1" })).toThrow(ConfigError);
});
