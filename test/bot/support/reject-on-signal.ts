/**
 * Fault injection for the bot process, loaded with `node --import`: on SIGUSR2 the process gets a promise
 * rejection nobody handles, as a bug anywhere in the bot (or a library) would cause. Nothing in the product
 * knows about it.
 */
process.on('SIGUSR2', () => {
  void Promise.reject(new Error('injected unhandled rejection'));
});
