/**
 * Loading code on demand. Command implementations import their heavy modules through
 * {@link lazy} loaders so that the loading can start while the repository opens (see
 * `Context.withRepo`'s `preload`) instead of before or after it.
 */

/**
 * A memoized loader: the first call starts `load()`, every call returns the same promise.
 * A rejection is left to whoever awaits it (an unawaited preload never reports it).
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (!loading) {
      loading = load();
      loading.catch(() => undefined);
    }
    return loading;
  };
}
