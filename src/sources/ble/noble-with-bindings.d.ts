declare module '@abandonware/noble/with-bindings' {
  const withBindings: (bindings: import('node:events').EventEmitter) => unknown;
  export default withBindings;
}
