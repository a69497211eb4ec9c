using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Bridge.Compiler;

// Bridge.Compiler: the command python/dotbridge/_compile.py runs to build an inline C# kernel.
//
//   Bridge.Compiler --out <path.dll> [--name <assembly name>] [--reference <path.dll>]...
//                   [--source <file>] [--meta <path.json>] [--source-path <name in stack traces>]
//
// The source comes from --source or, without it, from stdin (UTF-8). On success the assembly is
// written atomically to --out (a temp file in the same directory, then rename), after the
// metadata file (--meta, same JSON as stdout), so a reader that sees the .dll also sees the .json.
// Two processes compiling the same kernel at once both succeed: the output is deterministic and
// rename(2) replaces atomically.
//
// stdout: one JSON object {"success", "elapsed_ms", "diagnostics": [{id, severity, message, line,
// column, end_line, end_column}], "types": [{name, methods}]}; lines and columns are 1-based
// positions in the user's source. Exit codes: 0 compiled, 1 compile errors, 2 usage or I/O error
// (message on stderr).

string? outPath = null, metaPath = null, sourceFile = null, name = null, sourcePath = null;
var references = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i].StartsWith("--", StringComparison.Ordinal) && args[i] is not "--help" && i + 1 >= args.Length)
        return Fail($"{args[i]} needs a value");
    string Next() => args[++i];
    switch (args[i])
    {
        case "--out": outPath = Next(); break;
        case "--meta": metaPath = Next(); break;
        case "--source": sourceFile = Next(); break;
        case "--name": name = Next(); break;
        case "--source-path": sourcePath = Next(); break;
        case "--reference" or "-r": references.Add(Next()); break;
        case "--help" or "-h":
            Console.WriteLine("usage: Bridge.Compiler --out <path.dll> [--name N] [--reference R]... [--source F] [--meta M]");
            return 0;
        default: return Fail($"unknown argument {args[i]}");
    }
}
if (outPath is null)
    return Fail("--out is required");

var clock = Stopwatch.StartNew();
string source;
try
{
    source = sourceFile is null
        ? await new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false)).ReadToEndAsync()
        : await File.ReadAllTextAsync(sourceFile);
}
catch (IOException e)
{
    return Fail($"cannot read the source: {e.Message}");
}

name ??= Path.GetFileNameWithoutExtension(outPath);
CompileResult result;
try
{
    result = KernelCompiler.Compile(source, references, name, sourcePath ?? "inline.cs");
}
catch (FileNotFoundException e)
{
    return Fail(e.Message);
}

var json = ResultJson.Write(result, clock.Elapsed.TotalMilliseconds);
if (result.Success)
{
    try
    {
        var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        Directory.CreateDirectory(outDir);
        if (metaPath is not null)
            WriteAtomically(metaPath, json);
        WriteAtomically(outPath, result.Image!);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        return Fail($"cannot write {outPath}: {e.Message}");
    }
}
using (var stdout = Console.OpenStandardOutput())
{
    stdout.Write(json);
    stdout.WriteByte((byte)'\n');
}
return result.Success ? 0 : 1;

static void WriteAtomically(string path, byte[] bytes)
{
    var full = Path.GetFullPath(path);
    var tmp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
    try
    {
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, overwrite: true); // rename(2): readers see the old file or the new one
    }
    finally
    {
        if (File.Exists(tmp))
            File.Delete(tmp);
    }
}

static int Fail(string message)
{
    Console.Error.WriteLine($"Bridge.Compiler: {message}");
    return 2;
}
