// Newline-delimited text arriving in chunks (watch streams, child process output): the one place
// that keeps the unfinished tail between chunks.

/** Returns a function fed each chunk in order; it returns the lines completed by that chunk, without '\n'. */
export function lineSplitter(): (chunk: string) => string[] {
  let pending = '';
  return (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    return lines;
  };
}
