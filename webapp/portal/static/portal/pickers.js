// Lot pickers: as a lot is picked, the quantity field beside it says the lot's unit and how
// much of it the organisation holds (the options carry both). Without this script the
// server says the same after the form is sent.
(function () {
  function describe(select) {
    const option = select.options[select.selectedIndex];
    if (!option || !option.dataset.unit) return "pick a lot to see its unit and how much you hold";
    return "in " + option.dataset.unit + "; you hold " + option.dataset.available;
  }
  document.querySelectorAll("input[data-lot-picker]").forEach(function (input) {
    const select = document.getElementById(input.dataset.lotPicker);
    const help = document.getElementById(input.id + "_help");
    if (!select || !help) return;
    select.addEventListener("change", function () { help.textContent = describe(select); });
  });
})();
