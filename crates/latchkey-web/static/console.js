// Latchkey Security Console: progressive enhancement only (every page works without it).
// Copy buttons: <button class="copy" data-copy="ELEMENT-ID"> copies that element's text.
document.addEventListener('click', function (ev) {
  var b = ev.target.closest ? ev.target.closest('button.copy[data-copy]') : null;
  if (!b || !navigator.clipboard) return;
  var el = document.getElementById(b.getAttribute('data-copy'));
  if (!el) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(function () {
    b.textContent = 'Copied';
  });
});
