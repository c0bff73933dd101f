export { type BenchCase, type BenchRow, type BenchSuite, printTable, runBenchSuite } from './bench';
export { makeTempDir, type TempDir } from './temp-dir';
