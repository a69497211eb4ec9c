// The C# sample of dotbridge: C# calls a CPU-bound pure-Python function in parallel worker
// processes. See the header of CSharpSample.csproj for how to run it.
//
//   dotnet run -c Release --project tests/CSharpSample              the demo (speed-up table)
//   dotnet run -c Release --project tests/CSharpSample -- --bench   benchmark figures, last line JSON
//   options: --quick (smaller inputs), --no-inprocess (skip the optional Bridge.Interop part)
using System.Diagnostics;
using System.Text.Json;
using Bridge;
using Bridge.Interop;

bool bench = args.Contains("--bench");
bool quick = args.Contains("--quick");
bool inProcess = !args.Contains("--no-inprocess");

// The Python module the workers import: written to a temp dir put on the workers' sys.path.
string moduleDir = Directory.CreateTempSubdirectory("dotbridge-sample-").FullName;
File.WriteAllText(Path.Combine(moduleDir, "dotbridge_sample_cpu.py"), """
    def count_primes(lo, hi):
        # trial division by odd divisors up to the square root (the same as Bridge.Samples.Primes.Count)
        count = 0
        n = max(lo, 2)
        if n <= 2 < hi:
            count += 1
            n = 3
        if n % 2 == 0:
            n += 1
        while n < hi:
            d = 3
            prime = True
            while d * d <= n:
                if n % d == 0:
                    prime = False
                    break
                d += 2
            if prime:
                count += 1
            n += 2
        return count


    def ident(x):
        return x


    def inc(x):
        return x + 1
    """);

ProcessPoolOptions Options(int processes)
{
    var options = new ProcessPoolOptions { Processes = processes };
    options.PythonPath.Add(moduleDir);
    return options;
}

// Inputs: consecutive ranges [lo, hi) of equal width.
int pieces = quick ? 8 : 48;
long width = quick ? 10_000 : 20_000;
var ranges = Enumerable.Range(0, pieces).Select(i => new object?[] { i * width, (i + 1) * width }).ToList();
const string CountPrimes = "dotbridge_sample_cpu:count_primes";

try
{
    if (bench)
    {
        await RunBenchAsync();
    }
    else
    {
        await RunDemoAsync();
    }
    return 0;
}
finally
{
    Directory.Delete(moduleDir, recursive: true);
}

async Task RunDemoAsync()
{
    Console.WriteLine($"Counting primes below {pieces * width:N0} in {pieces} pieces with a pure-Python function.");
    Console.WriteLine($"Python workers run: {Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON") ?? "python3"} (env DOTBRIDGE_PYTHON)");

    // 1. One at a time in a single Python worker.
    long[] sequential;
    double tSequential;
    await using (var one = new ProcessPool(Options(1)))
    {
        await one.ApplyAsync<long>(CountPrimes, 0L, 10L); // start the worker outside the timing
        var sw = Stopwatch.StartNew();
        sequential = new long[pieces];
        for (int i = 0; i < pieces; i++)
        {
            sequential[i] = await one.ApplyAsync<long>(CountPrimes, ranges[i]);
        }
        tSequential = sw.Elapsed.TotalSeconds;
    }

    // 2. In parallel on two Python workers (and the same work in C# on two .NET workers).
    long[] parallel, dotnet;
    double tParallel, tDotNet;
    await using (var two = new ProcessPool(Options(2)))
    {
        await WarmUpAsync(two, 2); // both workers started, outside the timing
        var sw = Stopwatch.StartNew();
        parallel = await two.StarmapAsync<long>(CountPrimes, ranges, chunksize: 1);
        tParallel = sw.Elapsed.TotalSeconds;

        var primes = DotNetMethod.Of("Bridge.Samples.Primes.Count");
        await two.MapAsync<long, long>(DotNetMethod.Of("Bridge.Samples.Echo.Identity"), [1, 2], chunksize: 1);
        sw.Restart();
        dotnet = await two.StarmapAsync<long>(primes, ranges, chunksize: 1);
        tDotNet = sw.Elapsed.TotalSeconds;
    }

    Check(parallel.SequenceEqual(sequential), "the parallel results differ from the sequential ones");
    Check(dotnet.SequenceEqual(sequential), "the .NET results differ from the Python ones");
    Console.WriteLine($"  primes found: {sequential.Sum():N0}");
    Console.WriteLine($"  1 Python worker, one call at a time : {tSequential,7:F2} s");
    Console.WriteLine($"  2 Python workers, MapAsync          : {tParallel,7:F2} s   speed-up x{tSequential / tParallel:F2}");
    Console.WriteLine($"  2 .NET workers (Primes.Count)       : {tDotNet,7:F2} s   x{tSequential / tDotNet:F1} over 1 Python worker");

    // 3. Optional: the same function in-process through Bridge.Interop (embedded CPython, one GIL).
    if (inProcess)
    {
        if (InProcess(out double tInProcess, out long total))
        {
            Check(total == sequential.Sum(), "the in-process results differ");
            Console.WriteLine($"  in-process CPython (Bridge.Interop) : {tInProcess,7:F2} s   2 workers are x{tInProcess / tParallel:F2} faster");
        }
    }
}

bool InProcess(out double seconds, out long total)
{
    seconds = 0;
    total = 0;
    try
    {
        var options = new PythonOptions();
        string? python = Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON");
        if (!string.IsNullOrEmpty(python))
        {
            options.Executable = python;
        }
        options.ExtraPaths.Add(moduleDir);
        PythonRuntime.Initialize(options);
    }
    catch (PythonNotFoundException e)
    {
        Console.WriteLine($"  in-process CPython (Bridge.Interop) : skipped ({e.Message})");
        return false;
    }
    using (Gil.Acquire())
    {
        using var module = Py.Import("dotbridge_sample_cpu");
        using var function = module.GetAttr("count_primes");
        var sw = Stopwatch.StartNew();
        foreach (var range in ranges)
        {
            total += function.Call<long>(range[0], range[1]);
        }
        seconds = sw.Elapsed.TotalSeconds;
    }
    return true;
}

async Task RunBenchAsync()
{
    // (a) ApplyAsync round trip of a trivial function, one call at a time: median over 2000 calls.
    const int Calls = 2000;
    double pythonMedian, dotnetMedian;
    await using (var pool = new ProcessPool(Options(2)))
    {
        pythonMedian = await MedianMicrosecondsAsync(() => pool.ApplyAsync<long>("dotbridge_sample_cpu:ident", 1L), Calls);
        var identity = DotNetMethod.Of("Bridge.Samples.Echo.Identity");
        dotnetMedian = await MedianMicrosecondsAsync(() => pool.ApplyAsync<long>(identity, 1L), Calls);
    }
    Console.WriteLine($"apply round trip, trivial Python function: median {pythonMedian:F1} us over {Calls} calls");
    Console.WriteLine($"apply round trip, trivial .NET method    : median {dotnetMedian:F1} us over {Calls} calls");

    // (b) A CPU-bound pure-Python function over many inputs: 2 workers against 1 (MapAsync both;
    // medians of 3 runs, alternating).
    var runs1 = new List<double>();
    var runs2 = new List<double>();
    for (int i = 0; i < 3; i++)
    {
        runs1.Add(await MapSecondsAsync(1));
        runs2.Add(await MapSecondsAsync(2));
    }
    double t1 = runs1.Order().ElementAt(1), t2 = runs2.Order().ElementAt(1);
    Console.WriteLine($"cpu-bound map, 1 worker: {t1:F3} s; 2 workers: {t2:F3} s; throughput ratio x{t1 / t2:F2}");

    var figures = new Dictionary<string, double>
    {
        ["apply_python_median_us"] = Math.Round(pythonMedian, 1),
        ["apply_dotnet_median_us"] = Math.Round(dotnetMedian, 1),
        ["cpu_map_1_worker_s"] = Math.Round(t1, 3),
        ["cpu_map_2_workers_s"] = Math.Round(t2, 3),
        ["cpu_map_throughput_ratio"] = Math.Round(t1 / t2, 2),
    };

    // (c) The same function in-process (Bridge.Interop, one GIL), and the cost of one in-process
    // call of a trivial function through a typed delegate (int in, int out).
    if (inProcess && InProcess(out double tIn, out _))
    {
        figures["cpu_inprocess_s"] = Math.Round(tIn, 3);
        figures["cpu_2_workers_vs_inprocess"] = Math.Round(tIn / t2, 2);
        Func<long, long> inc;
        using (Gil.Acquire())
        {
            using var module = Py.Import("dotbridge_sample_cpu");
            using var f = module.GetAttr("inc");
            inc = f.GetFunction<long, long>();
        }
        const int N = 1_000_000;
        var perCall = new List<double>();
        for (int round = 0; round < 5; round++)
        {
            long acc = 0;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < N; i++)
            {
                acc += inc(i);
            }
            perCall.Add(sw.Elapsed.TotalNanoseconds / N);
            Check(acc == (long)N * (N + 1) / 2, "in-process results are wrong");
        }
        double ns = perCall.Order().ElementAt(2);
        figures["inprocess_call_ns"] = Math.Round(ns, 1);
        Console.WriteLine($"cpu-bound in-process: {tIn:F3} s (2 workers x{tIn / t2:F2}); in-process typed call: {ns:F0} ns");
    }
    Console.WriteLine(JsonSerializer.Serialize(figures));
}

async Task<double> MapSecondsAsync(int processes)
{
    await using var pool = new ProcessPool(Options(processes));
    await WarmUpAsync(pool, processes);
    var sw = Stopwatch.StartNew();
    await pool.StarmapAsync<long>(CountPrimes, ranges, chunksize: 1);
    return sw.Elapsed.TotalSeconds;
}

// Waits until every worker has answered once (each has started and imported the module), so a
// timing measures the work and not a worker that is still starting.
static async Task WarmUpAsync(ProcessPool pool, int processes)
{
    var pids = new HashSet<long>();
    for (int round = 0; round < 1000 && pids.Count < processes; round++)
    {
        if (round > 0)
            await Task.Delay(5);
        foreach (var pid in await pool.StarmapAsync<long>("os:getpid", Enumerable.Range(0, processes * 4).Select(_ => Array.Empty<object?>()), chunksize: 1))
            pids.Add(pid);
    }
}

static async Task<double> MedianMicrosecondsAsync(Func<Task<long>> call, int calls)
{
    for (int i = 0; i < 200; i++)
    {
        await call();
    }
    var samples = new double[calls];
    for (int i = 0; i < calls; i++)
    {
        long start = Stopwatch.GetTimestamp();
        await call();
        samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }
    Array.Sort(samples);
    return samples[calls / 2];
}

static void Check(bool condition, string message)
{
    if (!condition)
    {
        throw new InvalidOperationException(message);
    }
}
