import { ConvergeError } from "../codec/errors.js";

/** The bus was closed: it accepts no new publishes or subscriptions. */
export class BusClosedError extends ConvergeError {
  constructor(message = "event bus is closed") {
    super("ERR_BUS_CLOSED", message);
  }
}
