using Bridge;

// A Python module for the workers to import (any directory on PythonPath works).
string dir = Directory.CreateTempSubdirectory("quickstart-").FullName;
File.WriteAllText(Path.Combine(dir, "shapes.py"), """
    def area(width, height):
        return width * height
    """);

// Python workers run `python3 -m dotbridge._worker` (or $DOTBRIDGE_PYTHON); it needs msgpack.
var options = new ProcessPoolOptions { Processes = 2 };
options.PythonPath.Add(dir);
await using var pool = new ProcessPool(options);

// One call, in a worker process.
double area = await pool.ApplyAsync<double>("shapes:area", 3.0, 4.5);
Console.WriteLine($"area = {area}");

// Many calls in parallel, results in order.
double[] areas = await pool.StarmapAsync<double>("shapes:area", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
Console.WriteLine($"areas = {string.Join(", ", areas)}");

// A typed handle for a Python callable.
Func<long, long, Task<long>> pow = pool.GetFunction<long, long, long>("builtins:pow");
Console.WriteLine($"2**10 = {await pow(2, 10)}");

// Results as they finish.
await foreach (long n in pool.ImapUnorderedAsync<string, long>("builtins:len", ["a", "bb", "ccc"]))
{
    Console.WriteLine($"len = {n}");
}

// C# methods run in .NET worker processes of the same pool.
long primes = await pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 1_000_000L);
Console.WriteLine($"primes below 1e6 = {primes}");

// A Python exception arrives as a PythonException with its type and traceback.
try
{
    await pool.ApplyAsync<double>("shapes:area", "wide", "tall");
}
catch (PythonException e)
{
    Console.WriteLine($"{e.PythonType}: {e.Message}");
}
