/**
 * `@vfu/server-app` is the `vfu-server` program; run it with `npx vfu-server --help`. It exports no
 * API: the endpoint is `@vfu/server`, the device tree `@vfu/pci`, the device models `@vfu/devices`.
 */
export {};
