using System.Diagnostics;
using System.Runtime.InteropServices;
using Bridge.Interop;

namespace Interop.Tests;

/// <summary>Entry points a Python process calls after loading .NET through hostfxr (see <see cref="HostedTests"/>).</summary>
public static class HostedEntry
{
    /// <summary>Initializes against the host interpreter and returns math.factorial(x), or a negative code.</summary>
    [UnmanagedCallersOnly]
    public static long Factorial(long x)
    {
        PythonRuntime.Initialize();
        if (PythonRuntime.Location.Source != "host process") return -1;
        using var math = Py.Import("math");
        return math.GetAttr("factorial").Call<long>(x);
    }
}

public sealed class HostedTests
{
    private const string Script = """
        import ctypes, sys, threading
        fxr_path, config, assembly = sys.argv[1:4]
        fxr = ctypes.CDLL(fxr_path)
        handle = ctypes.c_void_p()
        rc = fxr.hostfxr_initialize_for_runtime_config(config.encode(), None, ctypes.byref(handle))
        assert rc == 0, hex(rc & 0xffffffff)
        load_ptr = ctypes.c_void_p()
        rc = fxr.hostfxr_get_runtime_delegate(handle, 5, ctypes.byref(load_ptr))  # hdt_load_assembly_and_get_function_pointer
        assert rc == 0, hex(rc & 0xffffffff)
        load = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))(load_ptr.value)
        target = ctypes.c_void_p()
        rc = load(assembly.encode(), b"Interop.Tests.HostedEntry, Interop.Tests", b"Factorial", ctypes.c_void_p(-1), None, ctypes.byref(target))
        assert rc == 0, hex(rc & 0xffffffff)
        released = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(target.value)   # ctypes drops the GIL
        held = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(target.value)      # GIL stays held
        results = [released(5), held(6)]
        t = threading.Thread(target=lambda: results.append(released(7)))
        t.start(); t.join(30)
        print("RESULTS", results)
        """;

    [Test]
    public void Python_process_that_loads_dotnet_binds_to_its_own_interpreter()
    {
        var exe = PythonRuntime.Location.Executable;
        if (exe is null || !File.Exists(exe)) Assert.Ignore("No Python executable known for the embedded library.");
        var fxrDir = Path.Combine(Path.GetDirectoryName(Environment.ProcessPath!)!, "host", "fxr");
        var fxr = Directory.Exists(fxrDir)
            ? Directory.GetFiles(fxrDir, "libhostfxr.so", SearchOption.AllDirectories).OrderDescending().FirstOrDefault()
            : null;
        if (fxr is null) Assert.Ignore($"libhostfxr.so not found under {fxrDir}.");
        var assembly = typeof(HostedEntry).Assembly.Location;
        var config = Path.ChangeExtension(assembly, ".runtimeconfig.json");

        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", Script, fxr, config, assembly }) psi.ArgumentList.Add(arg);
        psi.Environment.Remove(PythonLocator.PyDllVariable); // the host must win even so; keep the child clean
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("hosted Python process hung");
        }
        Assert.That(process.ExitCode, Is.EqualTo(0), stderr.Result);
        Assert.That(stdout.Result, Does.Contain("RESULTS [120, 720, 5040]"), stderr.Result);
    }
}
