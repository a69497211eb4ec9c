namespace Bridge.Interop;

/// <summary>How <see cref="PythonRuntime.Initialize"/> finds and sets up CPython.</summary>
/// <remarks>Every property is optional; unset ones fall back to environment variables and probing
/// (see <see cref="PythonLocator"/>).</remarks>
public sealed class PythonOptions
{
    /// <summary>Path to a shared libpython (wins over <c>PYTHONNET_PYDLL</c> and every probe).</summary>
    public string? LibraryPath { get; set; }

    /// <summary>A Python executable to probe (wins over <c>DOTBRIDGE_PYTHON</c>); may be inside a venv,
    /// whose site-packages then become importable.</summary>
    public string? Executable { get; set; }

    /// <summary>Value for PYTHONHOME. Default: the probed executable's <c>sys.base_prefix</c>, unless
    /// PYTHONHOME is already set in the environment.</summary>
    public string? Home { get; set; }

    /// <summary>Extra directories appended to <c>sys.path</c> after start-up.</summary>
    public IList<string> ExtraPaths { get; } = new List<string>();

    /// <summary>How long the probe of the executable may take. Default 15 s.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
