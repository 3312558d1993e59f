// Types for ensure-nats-server.mjs (plain JavaScript, run by node before anything is built).
export declare const INSTALL_HINT: string;
export interface Found {
  natsUrl: string | undefined;
  onPath: boolean;
  root: boolean;
  aptGet: boolean;
}
export declare function plan(found: Found): "use-nats-url" | "use-path" | "apt-install" | "stop";
export declare function ensureNatsServer(env?: NodeJS.ProcessEnv, log?: (line: string) => void): boolean;
