// The merchant dashboard (src/dashboard): a file input marked data-fill="<textarea id>" loads the chosen text file
// (a payout CSV) into that textarea, so the batch form is sent as ordinary form fields; without script, paste the
// lines.
(function () {
  var inputs = document.querySelectorAll('input[type=file][data-fill]');
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener('change', function () {
      var target = document.getElementById(input.getAttribute('data-fill'));
      var file = input.files && input.files[0];
      if (!target || !file) return;
      var reader = new FileReader();
      reader.onload = function () {
        target.value = String(reader.result);
      };
      reader.readAsText(file);
    });
  });
})();
