import { ConvergeError } from "../codec/errors.js";

/** The demo's simulated transient fault: the controller retries the device with backoff. */
export class DeviceUnreachableError extends ConvergeError {
  constructor(uid: string, attempt: number) {
    super("ERR_DEMO_DEVICE_UNREACHABLE", `device ${uid} did not answer (simulated fault, attempt ${attempt})`);
  }
}
